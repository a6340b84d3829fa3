"""The write side: config -> data and model -> training with probes -> the tracking writer (one job, one run)."""
