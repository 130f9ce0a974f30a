/* placeholder: the supervisor lands in the foundation work */
int main(void) { return 0; }
