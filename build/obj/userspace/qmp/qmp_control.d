build/obj/userspace/qmp/qmp_control.o: userspace/qmp/qmp_control.c \
 userspace/kmigd/kmigd.h build/qapi/qapi-types.h userspace/qmp/qapi_rt.h \
 build/qapi/qapi-commands.h build/qapi/qapi-visit.h \
 build/qapi/qapi-types.h userspace/qmp/qmp_server.h
userspace/kmigd/kmigd.h:
build/qapi/qapi-types.h:
userspace/qmp/qapi_rt.h:
build/qapi/qapi-commands.h:
build/qapi/qapi-visit.h:
build/qapi/qapi-types.h:
userspace/qmp/qmp_server.h:
