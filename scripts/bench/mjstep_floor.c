// The native floor for `mj_step`: MuJoCo 3.14's own C library (the pip wheel's libmujoco.so)
// stepping a model under joint PD control that holds given angles, as the WASM build and the
// Python bindings do in scripts/bench/sim.ts and mjstep.py. Prints one line of JSON: the
// microseconds of each mj_step after the warm-up steps.
//
//   mjstep_floor <model.xml> <steps> <warmup> <kp,...> <kd,...> <target,...>
#include <mujoco/mujoco.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int parse(const char* s, double* out, int max) {
  int n = 0;
  char* copy = strdup(s);
  for (char* tok = strtok(copy, ","); tok && n < max; tok = strtok(NULL, ",")) out[n++] = atof(tok);
  free(copy);
  return n;
}

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(int argc, char** argv) {
  if (argc != 7) { fprintf(stderr, "usage: %s model.xml steps warmup kp,... kd,... target,...\n", argv[0]); return 2; }
  char err[1000] = "";
  mjModel* m = mj_loadXML(argv[1], NULL, err, sizeof err);
  if (!m) { fprintf(stderr, "%s\n", err); return 1; }
  mjData* d = mj_makeData(m);
  int steps = atoi(argv[2]), warmup = atoi(argv[3]);
  double kp[64], kd[64], target[64];
  int nu = m->nu;
  if (parse(argv[4], kp, 64) != nu || parse(argv[5], kd, 64) != nu || parse(argv[6], target, 64) != nu) { fprintf(stderr, "need %d gains and targets\n", nu); return 2; }
  double* us = malloc(sizeof(double) * steps);
  for (int s = 0; s < warmup + steps; s++) {
    for (int i = 0; i < nu; i++) {
      int j = m->actuator_trnid[2 * i];
      d->ctrl[i] = (target[i] - d->qpos[m->jnt_qposadr[j]]) * kp[i] - d->qvel[m->jnt_dofadr[j]] * kd[i];
    }
    double t0 = now_us();
    mj_step(m, d);
    double t1 = now_us();
    if (s >= warmup) us[s - warmup] = t1 - t0;
  }
  printf("{\"mujoco\": \"%s\", \"z\": %.6f, \"step_us\": [", mj_versionString(), d->qpos[2]);
  for (int s = 0; s < steps; s++) printf(s ? ",%.3f" : "%.3f", us[s]);
  printf("]}\n");
  mj_deleteData(d);
  mj_deleteModel(m);
  return 0;
}
