"""Evaluation beyond inversion: MAP denoising with a prior, PSNR/SSIM before and after
(:mod:`.denoise`), and the statistics of feature maps (:mod:`.stats`, :mod:`.stats_figures`).

May import ``train.output`` and the library packages."""
