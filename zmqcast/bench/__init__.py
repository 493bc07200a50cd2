"""``zmqcast bench``: scenarios measured side by side with their baselines."""
