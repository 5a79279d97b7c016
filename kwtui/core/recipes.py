"""Versions of the audio kwtui makes up: the training audio it synthesizes, and the held-out audio evaluation plays.
A feature file made from synthesized audio keeps its name when the recipe changes, so the features' fingerprint
(kwtui.core.io.records) carries these, and the folders' manifests (kwtui.core.data.near_misses, run_on_words) do
too: bump one when what is said changes. The evaluation report's fingerprint carries HELD_OUT_AUDIO."""

NEAR_MISSES = 2  # 2: the keyword run on into a longer word joins the phoneme edits
RUN_ON_WORDS = 1
HELD_OUT_AUDIO = 3  # 2: held-out keywords placed as a sentence says them (silence trimmed, speech a word's gap away)
# 3: between other held-out words of the same talker
