from models.engine.prompt import PartKind, chunk_turn, format_span, question_turn, render


def test_first_turn_matches_the_release():
    parts = chunk_turn(0.0, 3.0, 6, "Please describe the video.", first=True, marker="<m>")
    assert render(parts) == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        "Time=0.0-3.0s<|vision_start|>VIDEO<|vision_end|>Please describe the video.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert [p.kind for p in parts] == [PartKind.SINK, PartKind.TIME, PartKind.VISION, PartKind.QUERY, PartKind.HEADER]
    assert parts[2].text == "<m>" * 6 and parts[2].n_frames == 6


def test_later_turns_close_the_previous_reply_and_omit_the_query():
    parts = chunk_turn(3.0, 4.0, 2, None, first=False, marker="<m>")
    assert render(parts) == (
        "<|im_end|>\n<|im_start|>user\nTime=3.0-4.0s<|vision_start|>VIDEO<|vision_end|>"
        "<|im_end|>\n<|im_start|>assistant\n"
    )


def test_span_has_one_decimal():
    # Python's formatting, as the release's f-string: 12.25 is exact in binary and rounds half to even.
    assert format_span(12.25, 13.75) == "Time=12.2-13.8s"
    assert format_span(61.0, 62.0) == "Time=61.0-62.0s"


def test_question_turn():
    assert render(question_turn("What formation?", first=False)) == (
        "<|im_end|>\n<|im_start|>user\nWhat formation?<|im_end|>\n<|im_start|>assistant\n"
    )
