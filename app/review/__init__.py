"""A coach's offline review of one video: the timeline, its journal and its exports."""
