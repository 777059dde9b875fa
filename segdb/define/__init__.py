"""Define a segmentation: its typed features, the source they are read from, TOML files, imports."""
