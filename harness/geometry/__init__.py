"""The statistics of each scale; `galaxy` turns them into claim measurements."""
