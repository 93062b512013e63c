"""Training, export and evaluation of the bundled demo detector (dev-only; needs torch)."""
