typedef int kmig_placeholder_t;
