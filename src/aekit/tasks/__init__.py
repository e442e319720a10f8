"""The jobs people train autoencoders for, each a Python API the CLI calls:

- :mod:`~aekit.tasks.anomaly`: anomaly scores (reconstruction error, −ELBO, code-space
  Mahalanobis distance, their combination) and thresholds;
- :mod:`~aekit.tasks.denoise`: denoise files, PSNR and SSIM;
- :mod:`~aekit.tasks.generate`: sampling (prior, or a Gaussian mixture on the codes of a
  deterministic AE), interpolation, latent traversals;
- :mod:`~aekit.tasks.represent`: codes, linear probes and k-means clustering accuracy.

Submodules are imported on use (``import aekit.tasks.anomaly``).
"""
