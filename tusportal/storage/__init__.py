"""Bytes only: stores know nothing of upload state, offsets or HTTP."""
