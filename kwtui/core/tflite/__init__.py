"""What TensorFlow Lite Micro does with a converted model: whether it fits an arena (probed in a child process) and
whether the firmware's pinned runtime implements every op and tensor type it uses."""
