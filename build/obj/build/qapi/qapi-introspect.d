build/obj/build/qapi/qapi-introspect.o: build/qapi/qapi-introspect.c
