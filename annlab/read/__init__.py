"""The read side: the tracking store -> tidy frames -> analysis -> figures -> report PDFs; no training code."""
