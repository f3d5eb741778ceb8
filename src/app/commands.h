// The vkdream subcommands. Each takes argc/argv after the command name and
// returns a process exit code; only main() exits.
#ifndef VKD_APP_COMMANDS_H
#define VKD_APP_COMMANDS_H

int vkd_cmd_info(int argc, char** argv);
int vkd_cmd_bench(int argc, char** argv);
int vkd_cmd_generate(int argc, char** argv);
int vkd_cmd_export(int argc, char** argv);
int vkd_cmd_batch(int argc, char** argv);
int vkd_cmd_check_prior(int argc, char** argv);
int vkd_cmd_view(int argc, char** argv);

#endif
