"""The sequence-class experiments (paper Secs. 3–7): the Y/Z model trained on synthetic classes."""
