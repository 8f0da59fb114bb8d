/* loomctl.h - loomctl's subcommands, one file each. */
#ifndef LOOM_TOOLS_LOOMCTL_H
#define LOOM_TOOLS_LOOMCTL_H

#include "loom/loom.h"

/* Each takes the arguments after its name and returns the process exit code. */
int loomctl_run(int argc, char **argv);
int loomctl_examine(int argc, char **argv);
int loomctl_infer(int argc, char **argv);

int loomctl_program(int argc, char **argv);
int loomctl_quantize(int argc, char **argv);

#endif
