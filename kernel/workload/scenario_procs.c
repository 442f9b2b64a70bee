#include "scenario.h"
void scenario_procs(struct scenario_run *run) { (void)run; }
