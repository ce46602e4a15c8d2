build/obj/userspace/qmp/qapi_rt.o: userspace/qmp/qapi_rt.c \
 userspace/qmp/qapi_rt.h
userspace/qmp/qapi_rt.h:
