"""One module per measurement, each run as a fresh subprocess in the venv it measures.

Workers import only the standard library from `bench` plus their engine, because the same
files run in the service venv (3.13), the torch export venv (3.11) and the bench venv.
Each prints one JSON object on its last stdout line.
"""
