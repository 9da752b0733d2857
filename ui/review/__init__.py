"""The Review tab: player, timeline, questions and exports of one recorded video."""
