# Sourced by each step of bench/gpu/run.sh (a `bash -c` of its own, under `timeout`): the word lists
# run.sh built, back as arrays (arrays do not cross into a child process; their words hold no spaces).
read -r -a HYDRA <<<"$HYDRA_STR"
read -r -a ON_DEVICE <<<"$ON_DEVICE_STR"
read -r -a FP16 <<<"$FP16_STR"
read -r -a CPU_FLAG <<<"$CPU_FLAG_STR"
read -r -a FULL_MODEL <<<"$FULL_MODEL_STR"
read -r -a GEN_ARGS <<<"$GEN_ARGS_STR"
read -r -a FT_EXTRA <<<"$FT_EXTRA_STR"
