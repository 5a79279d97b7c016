"""The names a preset chooses between, defined once. The preset's validation, the wizard's lists and the tables
that implement each choice (kwtui.core.model.BUILDERS, kwtui.core.data.frontends.FRONTENDS) all use these; a test
keeps the tables' keys equal to them. No imports: the CLI reads this before anything heavy loads."""

MODELS = ("stream", "cnn", "dscnn", "dscnn_s")  # the default first (the wizard lists them in this order)
FRONTENDS = ("micro", "spectrogram")  # TFLM's audio frontend (the streaming model's), diy-alexa's spectrogram
