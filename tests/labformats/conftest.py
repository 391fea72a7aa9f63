from pathlib import Path

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> bytes:
    """The bytes of a sample message, exactly as a lab sent them."""
    return (SAMPLES / name).read_bytes()
