"""What the experiments share: config checks and files, the grid of runs over devices, the work
directory, checkpoints, and the process's runtime (logs, progress, Ctrl-C, many processes)."""
