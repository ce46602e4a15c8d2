build/obj/userspace/util/json_write.o: userspace/util/json_write.c \
 userspace/util/json_write.h
userspace/util/json_write.h:
