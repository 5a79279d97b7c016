"""kwtui: from a folder of speech clips to a keyword detector on an ESP32."""

__version__ = "0.1.0"
