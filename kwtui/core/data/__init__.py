"""Audio and datasets: reading clips, scanning a dataset, planning classes and splits, the feature."""
