"""The experiment configs: one file per experiment, each with get_config(variant).

Shipped with the package as scan_snap.configs; `--config=configs/<name>.py` finds them from
any directory (see scan_snap.core.config_files).
"""
