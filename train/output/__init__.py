"""What every command writes: run directories that never overwrite (:mod:`.run_dir`),
progress and W&B tracking (:mod:`.tracking`), the inversion figure (:mod:`.figures`).

May import the library packages only."""
