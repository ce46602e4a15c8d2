build/obj/build/qapi/qapi-visit.o: build/qapi/qapi-visit.c \
 build/qapi/qapi-visit.h build/qapi/qapi-types.h userspace/qmp/qapi_rt.h
build/qapi/qapi-visit.h:
build/qapi/qapi-types.h:
userspace/qmp/qapi_rt.h:
