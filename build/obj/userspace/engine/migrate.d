build/obj/userspace/engine/migrate.o: userspace/engine/migrate.c \
 userspace/util/log.h userspace/engine/migrate.h userspace/qmp/qapi_rt.h \
 userspace/engine/uri.h
userspace/util/log.h:
userspace/engine/migrate.h:
userspace/qmp/qapi_rt.h:
userspace/engine/uri.h:
