"""The Tryton ERP connector kind: the kind (``kind.py``), how Weft's objects map onto Tryton's models
(``objects.py``) and the JSON-RPC client (``rpc.py``)."""
