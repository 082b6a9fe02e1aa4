"""Reading files: sniffing, the safe readers (pickle, zip, legacy, TorchScript, safetensors), listing, metadata."""
