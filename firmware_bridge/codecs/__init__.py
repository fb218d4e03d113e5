"""One pure codec per protocol: decode(bytes) -> reading, encode(reading) -> bytes."""
