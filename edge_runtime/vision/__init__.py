"""Camera path: capture, inference back-ends, decoding, image zones, camera rules."""
