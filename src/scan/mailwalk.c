/* placeholder: being written */
typedef int pc_placeholder_mailwalk;
