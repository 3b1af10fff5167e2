"""Training: the loop, checkpoints, schedules."""
