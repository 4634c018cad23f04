"""Operations over models: training, evaluation, and (later) gates, promotion and drift."""
