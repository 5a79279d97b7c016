"""Versions of the training audio kwtui synthesizes. A feature file made from synthesized audio keeps its name when
the recipe changes, so the features' fingerprint (kwtui.core.io.records) carries these, and the folders' manifests
(kwtui.core.data.near_misses, run_on_words) do too: bump one when what is said changes."""

NEAR_MISSES = 2  # 2: the keyword run on into a longer word joins the phoneme edits
RUN_ON_WORDS = 1
