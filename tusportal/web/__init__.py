"""The only package that imports Starlette."""
