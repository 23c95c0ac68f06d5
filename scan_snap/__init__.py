"""scan_snap: training dynamics of a 1-layer transformer ("Scan and Snap", Tian et al. 2023)."""
