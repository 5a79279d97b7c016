"""The feature store: one .npy per clip, written by a bounded worker pool, read back in batches."""
