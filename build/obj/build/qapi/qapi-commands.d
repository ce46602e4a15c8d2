build/obj/build/qapi/qapi-commands.o: build/qapi/qapi-commands.c \
 build/qapi/qapi-commands.h build/qapi/qapi-visit.h \
 build/qapi/qapi-types.h userspace/qmp/qapi_rt.h
build/qapi/qapi-commands.h:
build/qapi/qapi-visit.h:
build/qapi/qapi-types.h:
userspace/qmp/qapi_rt.h:
