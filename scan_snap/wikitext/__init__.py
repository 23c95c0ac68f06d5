"""The WikiText experiment (paper Sec. 8, Figs. 7 and 10): an ordinary transformer on real text."""
