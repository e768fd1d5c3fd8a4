#!/usr/bin/env bash
# Gathers what scripts/gpu/run.sh needs from outside the repository into .gpu/ (ignored by git),
# for a machine that gets only the working tree: the zoo files it uses and 2.13's mlp_m2.pt.
set -euo pipefail
cd "$(dirname "$0")/../.."
zoo=${TORCHLOOP_ZOO:-../shared/real-models}
mkdir -p .gpu
for f in unitreerobotics__unitree_rl_gym__go2_motion.pt unitreerobotics__unitree_rl_gym__g1_motion.pt \
         subhamyadav580__TrafficSignRecognition__traffic_sign_cpu.pt; do cp "$zoo/$f" .gpu/; done
cp test/fixtures/torch-2.13/mlp_m2.pt .gpu/
du -sh .gpu
