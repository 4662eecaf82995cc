"""Evaluation: FID/KID, PSNR/SSIM, MACs/parameters, latency."""
