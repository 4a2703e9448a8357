"""Live boards: snapshots re-read on every change, shared channels, the big screens' socket."""
