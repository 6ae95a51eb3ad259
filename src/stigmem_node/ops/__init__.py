"""Operations surface: health, discovery, documentation, metrics."""
